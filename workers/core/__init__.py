"""The worker core: running one job, dispatch (broker or in-process), the retry policy, leases,
the sweeper and reports. Below producer/ and training/, above db/ (see docs/architecture.md)."""
