"""studentflow/report stage."""
