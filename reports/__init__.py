"""Reports: the supervisors' figures over a date range (/reports/: outcomes, response times,
agents, labels, arrivals; charts and CSV exports), read from the other apps' tables, which no
app below may import."""
