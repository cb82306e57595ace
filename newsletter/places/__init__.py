"""Places: a citizen's comune on the forms, and the comuni's own pages and feeds."""
