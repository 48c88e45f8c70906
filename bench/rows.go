package main

import "fmt"

// row is one line of the comparison before the system is chosen: a
// workload with all its parameters. Every system runs every row with the
// same parameters.
type row struct {
	ID       string // "1a", "2", ...: names the row in the table and the CSV
	Workload int    // 1 publish, 2 sync publish, 3 consume, 4 end-to-end, 5 fan-out
	Title    string

	Size      int // payload bytes per event
	Producers int
	Batch     int // events per batch / async window / pipeline / fetch
	Events    int // measured events (split between producers)
	Warmup    int // events before the clock starts, not measured
	Rate      int // events/s offered (workload 4)
	Subs      int // subscriptions (workload 5)
}

// plan lists the rows of the workloads the config selects, in table order.
func plan(c Config) []row {
	var rows []row
	for _, w := range c.Workloads {
		switch w {
		case 1:
			id := 'a'
			for _, size := range []int{128, 1024} {
				for _, producers := range []int{1, 4} {
					rows = append(rows, row{
						ID: fmt.Sprintf("1%c", id), Workload: 1,
						Title: fmt.Sprintf("publish async, %s, %d producer%s, batch %d",
							sizeName(size), producers, plural(producers), c.Batch),
						Size: size, Producers: producers, Batch: c.Batch,
						Events: c.PublishEvents, Warmup: warmup(c.PublishEvents),
					})
					id++
				}
			}
		case 2:
			rows = append(rows, row{ID: "2", Workload: 2, Title: "sync publish latency, 128 B, 1 producer",
				Size: 128, Producers: 1, Batch: 1, Events: c.SyncEvents, Warmup: warmup(c.SyncEvents)})
		case 3:
			rows = append(rows, row{ID: "3", Workload: 3,
				Title: fmt.Sprintf("consume + ack per event, 128 B, 1 consumer, fetch %d", c.Batch),
				Size:  128, Producers: 1, Batch: c.Batch, Events: c.ConsumeEvents, Warmup: warmup(c.ConsumeEvents)})
		case 4:
			rows = append(rows, row{ID: "4", Workload: 4,
				Title: fmt.Sprintf("end-to-end latency at %d/s, 128 B", c.Rate),
				Size:  128, Producers: 1, Batch: c.Batch, Events: c.E2EEvents, Warmup: warmup(c.E2EEvents), Rate: c.Rate})
		case 5:
			// 5n is row 5's publisher with nothing attached: the fan-out
			// bar's "publish throughput with none", measured with the same
			// events, window and code path as row 5 itself.
			rows = append(rows, row{ID: "5n", Workload: 5,
				Title: "fan-out's publisher alone, 128 B, 1 topic, no subscriptions",
				Size:  128, Producers: 1, Batch: c.Batch, Events: c.FanOutEvents, Warmup: warmup(c.FanOutEvents)})
			rows = append(rows, row{ID: "5", Workload: 5,
				Title: fmt.Sprintf("fan-out, 128 B, 1 topic, %d subscriptions", c.Subscriptions),
				Size:  128, Producers: 1, Batch: c.Batch, Events: c.FanOutEvents, Warmup: warmup(c.FanOutEvents),
				Subs: c.Subscriptions})
		}
	}
	return rows
}

// warmup is how many events run before the clock starts: a tenth of the
// measured count, at least 10 and at most 10,000.
func warmup(events int) int { return min(max(events/10, 10), 10_000) }

func sizeName(n int) string {
	if n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
