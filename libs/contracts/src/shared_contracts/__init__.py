"""The messaging contract shared by every service: one definition drives code and AsyncAPI docs."""
