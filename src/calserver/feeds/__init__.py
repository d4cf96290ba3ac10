"""Side endpoints of issue 4: calendar.ics, RSS feeds, public pages (calserver.feeds.web)."""
