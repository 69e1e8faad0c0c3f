"""probmoll.likelihoods"""
