"""Recording of every market-data event the bot sees (and its decisions), to Parquet day folders."""
