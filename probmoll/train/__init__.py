"""probmoll.train"""
