"""In-memory fakes of the ports, for fast in-process tests of handlers and pipelines.

Each fake keeps its state in plain Python containers and follows the contract stated in the port's
docstring. Each is held by a contract test to the same assertions as the real adapter it stands in for
(`tests/adapters/memory`), so a test that passes on a fake says something about production. A fake
implements only what those tests cover; what it refuses is stated in its docstring (and it raises
`NotImplementedError` rather than silently doing less).
"""
