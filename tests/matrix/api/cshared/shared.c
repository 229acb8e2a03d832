int pb_shared(void) { return 5; }
