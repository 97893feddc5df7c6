"""One module per page: each turns a request into data (the JSON) and a template to show it in."""
