# Read by ctest after the test list that doctest_discover_tests wrote: gives every discovered test of
# test_plugin_strategies the labels "unit" and "plugin". doctest 2.4's discovery cannot do it: it
# flattens a list-valued PROPERTIES argument, so LABELS "unit;plugin" ends up as the label "unit"
# plus a stray property named "plugin", and `ctest -L plugin` finds nothing.
foreach(test IN LISTS test_plugin_strategies_TESTS)
  set_tests_properties("${test}" PROPERTIES LABELS "unit;plugin")
endforeach()
