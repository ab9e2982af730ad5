module dockerlet/bench/goproxy

go 1.21
