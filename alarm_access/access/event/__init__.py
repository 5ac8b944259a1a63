"""The pure core of the `event` access type: parsers, per-kind rules, fan-out, standardization, delivery plan.

Flow for one Kafka message: `parse.parse_message` → `FlatEvent`s → `fanout.fan_out` → `Candidate`s →
`standardize.standardize` → `Anomaly`s; a batch of anomalies → `delivery.plan_delivery` → what the Redis
adapter writes in one transaction. Nothing here does I/O or reads the clock.
"""
