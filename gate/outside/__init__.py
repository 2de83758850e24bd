"""The boundary to the outside world: one bounded HTTP GET, one cache folder, the GitHub REST client.

Everything that talks to a network host goes through here, so timeouts, size caps, retries, the
User-Agent and the error type are decided once (issue 13). It imports only the base layer
(`gate.model`, `gate.errors`); knowledge, acquisition and the GitHub sinks import it.
"""
