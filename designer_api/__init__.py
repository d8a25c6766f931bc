"""designer_api"""
