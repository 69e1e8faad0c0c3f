"""probmoll.metrics"""
