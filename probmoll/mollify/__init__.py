"""probmoll.mollify"""
