// A shared library that exports nothing fthost looks for.
extern "C" __attribute__((visibility("default"))) int fthost_test_unrelated_function() { return 42; }
