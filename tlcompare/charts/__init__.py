"""Every plotly figure, from analysis frames, shared by the Results page and the reports
(`figures`, `overfit`, `multiplier`), and the one palette keyed by variant (`palette`)."""
