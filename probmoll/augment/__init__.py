"""probmoll.augment"""
