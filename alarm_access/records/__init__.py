"""The record pipeline and its pure stages, shared by `data` and `real_time_data`; `pipeline.run` ties them
together.

Every function here is a pure function of values: no I/O, no clock, no settings. Per-group work (dimension
names, matchers, thresholds) is compiled once per run into small plan objects, then applied per point.
"""
