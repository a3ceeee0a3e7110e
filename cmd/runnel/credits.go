package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/api"
)

func init() {
	var af accountFlags
	credits := &cobra.Command{Use: "credits", Short: "Add and show a team's credits"}
	af.add(credits)

	var team string
	add := &cobra.Command{
		Use:   "add --team ID N",
		Short: "Add N credits to a team (negative N, after --, removes)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("credits: %q is not a whole number", args[0])
			}
			acct, err := af.open(cmd.Context())
			if err != nil {
				return err
			}
			defer acct.Close()
			t, err := acct.AddCredits(cmd.Context(), team, n)
			if err != nil {
				return err
			}
			showCredits(cmd.OutOrStdout(), t)
			return nil
		},
	}
	add.Flags().StringVar(&team, "team", "", "team id (required)")
	add.MarkFlagRequired("team")

	var showTeam string
	var asJSON bool
	show := &cobra.Command{
		Use:   "show --team ID",
		Short: "Show a team's balance: credits, reserved (open jobs, calls in flight), free, spend",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			acct, err := af.open(cmd.Context())
			if err != nil {
				return err
			}
			defer acct.Close()
			t, err := acct.Team(cmd.Context(), showTeam)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), api.Team(t))
			}
			showCredits(cmd.OutOrStdout(), t)
			return nil
		},
	}
	show.Flags().StringVar(&showTeam, "team", "", "team id (required)")
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	show.MarkFlagRequired("team")

	credits.AddCommand(add, show)
	root.AddCommand(credits)
}

func showCredits(w io.Writer, t account.Team) {
	fmt.Fprintf(w, "team      %s (%s)\ncredits   %d\nreserved  %d\nfree      %d\nspent     %.6g\n", t.ID, t.Name, t.Credits, t.Reserved, t.Free(), t.Spent)
	if t.MaxBudget > 0 {
		fmt.Fprintf(w, "budget    %g\n", t.MaxBudget)
	}
}
