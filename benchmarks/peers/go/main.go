// Go's side of the peer comparison, written as Go programmers write it:
// `go func` for every task, a sync.WaitGroup (or a channel) to join, and
// results written into a slot the parent owns. GOMAXPROCS = workers.
//
// usage: peers-go WORKLOAD WORKERS
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

const (
	fibN          = 30
	fibAnswer     = 832040
	skynetLeaves  = 1000000
	skynetDiv     = 10
	skynetAnswer  = 499999500000
	spawnN        = 1000000
	spawnAnswer   = 499999500000
	yieldSwitches = 10000000
	chanRounds    = 1000000
	nqueensN      = 12
	nqueensAnswer = 14200
)

// fib: one child goroutine for fib(n-1), fib(n-2) inline, join.
func fib(n int) int {
	if n < 2 {
		return n
	}
	var a int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		a = fib(n - 1)
		wg.Done()
	}()
	b := fib(n - 2)
	wg.Wait()
	return a + b
}

// skynet: the classic form, each node sends its sum on its parent's channel.
func skynet(c chan<- int, num, size int) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int, skynetDiv)
	sub := size / skynetDiv
	for i := 0; i < skynetDiv; i++ {
		go skynet(rc, num+i*sub, sub)
	}
	sum := 0
	for i := 0; i < skynetDiv; i++ {
		sum += <-rc
	}
	c <- sum
}

// spawn: a million trivial goroutines started before the first join.
func spawn() int {
	results := make([]int, spawnN)
	var wg sync.WaitGroup
	wg.Add(spawnN)
	for i := 0; i < spawnN; i++ {
		go func(i int) {
			results[i] = i
			wg.Done()
		}(i)
	}
	wg.Wait()
	sum := 0
	for _, r := range results {
		sum += r
	}
	return sum
}

// yield: two goroutines (GOMAXPROCS=1) handing the processor to each other.
func yield() int {
	var counts [2]int
	var wg sync.WaitGroup
	wg.Add(2)
	for g := 0; g < 2; g++ {
		go func(g int) {
			for i := 0; i < yieldSwitches/2; i++ {
				runtime.Gosched()
				counts[g]++
			}
			wg.Done()
		}(g)
	}
	wg.Wait()
	return counts[0] + counts[1]
}

// chan: ping-pong over two unbuffered channels.
func pingPong() int {
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
		close(pong)
	}()
	v := 0
	for i := 0; i < chanRounds; i++ {
		ping <- v
		v = <-pong
	}
	close(ping)
	return v
}

// nqueens: a goroutine per safe placement on each row, then join them all.
type board [nqueensN]int8

func safe(b *board, row, col int) bool {
	for r := 0; r < row; r++ {
		c := int(b[r])
		if c == col || c-col == row-r || col-c == row-r {
			return false
		}
	}
	return true
}

func nqueens(b board, row int) int {
	if row == nqueensN {
		return 1
	}
	var counts [nqueensN]int
	var wg sync.WaitGroup
	for col := 0; col < nqueensN; col++ {
		if !safe(&b, row, col) {
			continue
		}
		child := b
		child[row] = int8(col)
		wg.Add(1)
		go func(col int) {
			counts[col] = nqueens(child, row+1)
			wg.Done()
		}(col)
	}
	wg.Wait()
	sum := 0
	for _, c := range counts {
		sum += c
	}
	return sum
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: peers-go fib|skynet|spawn|yield|chan|nqueens WORKERS")
		os.Exit(2)
	}
	workload := os.Args[1]
	workers, err := strconv.Atoi(os.Args[2])
	if err != nil || workers < 1 {
		fmt.Fprintln(os.Stderr, "WORKERS must be a positive integer")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(workers)
	// Bring up the scheduler's threads before the clock: one goroutine per P.
	var warm sync.WaitGroup
	warm.Add(workers)
	for i := 0; i < workers; i++ {
		go func() { warm.Done() }()
	}
	warm.Wait()

	var got, want int
	start := time.Now()
	switch workload {
	case "fib":
		got, want = fib(fibN), fibAnswer
	case "skynet":
		c := make(chan int, 1)
		go skynet(c, 0, skynetLeaves)
		got, want = <-c, skynetAnswer
	case "spawn":
		got, want = spawn(), spawnAnswer
	case "yield":
		got, want = yield(), yieldSwitches
	case "chan":
		got, want = pingPong(), chanRounds
	case "nqueens":
		got, want = nqueens(board{}, 0), nqueensAnswer
	default:
		fmt.Fprintln(os.Stderr, "unknown workload", workload)
		os.Exit(2)
	}
	secs := time.Since(start).Seconds()
	ok := got == want
	fmt.Printf("{\"peer\":\"go\",\"workload\":%q,\"workers\":%d,\"seconds\":%.6f,\"ok\":%t}\n",
		workload, workers, secs, ok)
	if !ok {
		fmt.Fprintf(os.Stderr, "go %s: got %d, want %d\n", workload, got, want)
		os.Exit(1)
	}
}
