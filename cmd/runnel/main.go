// Command runnel streams LLM output token by token: a gateway in front of
// upstream providers and a built-in pure-Go inference engine, in one binary.
//
// Each subcommand lives in its own file and adds itself to root in init.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

var root = &cobra.Command{
	Use:           "runnel",
	Short:         "Stream LLM output token by token, to any client",
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "runnel:", err)
		os.Exit(1)
	}
}
