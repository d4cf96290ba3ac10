"""Sharing and visibility: groups, grants at three levels, group calendars, the busy
view, and the viewer's own settings of calendars shared with them."""
