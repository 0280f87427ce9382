"""What the Live page shows, read again only when the experiment's change stamp moved (`view`),
and its run table and progress line (`table`). No torch."""
