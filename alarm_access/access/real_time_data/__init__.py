"""`real_time_data` access: metric points of real-time strategies consumed from Kafka, through the shared
record pipeline, into detect's queues (spec data-access §4.4)."""
