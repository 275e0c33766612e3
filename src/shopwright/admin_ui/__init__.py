"""The back-office web page at /admin: plain HTML, CSS and JS over the admin API, local assets only."""
