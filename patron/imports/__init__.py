"""CSV/XLSX imports of customers, products and orders: upload, mapping, dry run, job."""
