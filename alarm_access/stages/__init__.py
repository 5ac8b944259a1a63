"""Pure stages of the `data` record pipeline; `alarm_access.pipeline.run` ties them together.

Every function here is a pure function of values: no I/O, no clock, no settings. Per-group work (dimension
names, matchers, thresholds) is compiled once per run into small plan objects, then applied per point.
"""
