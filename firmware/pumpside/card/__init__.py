"""Fuel IC card application: APDU layer, user card (PBOC e-purse + grey lock), PSAM."""
