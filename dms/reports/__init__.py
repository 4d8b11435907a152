"""Report forms as data, filled reports, the dashboard and its figures and charts."""
