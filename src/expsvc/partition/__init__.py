"""Monthly partitions of the history tables: created ahead, dropped whole past retention."""
