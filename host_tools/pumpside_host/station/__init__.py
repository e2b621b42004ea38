"""The reference station server: asyncio TCP on SQLite (WAL), the other end of
firmware/pumpside/protocol.py, whose link task is the terminal's end."""
