module podidentitywebhook/benchmarks/go_comparator

go 1.19
