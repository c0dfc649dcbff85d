module wal-service.local/e2e/kind/go/gateway-standin

go 1.26
