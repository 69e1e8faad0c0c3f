"""probmoll.data"""
