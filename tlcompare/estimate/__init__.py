"""How long an experiment will take: the throughput probe and the estimate (`runtime`), the probe
run in its own process so the form never waits (`background`), and the estimate in words
(`words`)."""
