"""One module per page (or group of small pages); each exposes `routes()`."""
