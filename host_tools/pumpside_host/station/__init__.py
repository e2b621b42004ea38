"""The reference station server: asyncio TCP on SQLite (WAL), the other end of
firmware/pumpside/protocol.py (issue 5; the terminal's link task comes next)."""
