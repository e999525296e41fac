"""Cost: estimate the monthly bill of each deployment from its live configuration and a price
table, hold it against the documented budget, and read month-to-date spend from Cost Explorer."""
