"""What users see: Rich for people, JSON for scripts, one data path for both."""
