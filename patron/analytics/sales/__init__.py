"""Sales and product reports, the reports dashboard and the weekly summary email."""
