"""What several test suites share and is not a factory: statement counting, races, servers, fakes."""
