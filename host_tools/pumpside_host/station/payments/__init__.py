"""Phone payment: the gateway adapters' interface (gateway.py), the station's order
ledger and its state machine (orders.py), the service the pay page, the gateway's
notifications and the pump's final sale go through (service.py), and where the station
finds its gateway (config.py)."""
