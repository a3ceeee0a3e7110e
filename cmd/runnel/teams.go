package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/api"
	"github.com/runnel/runnel/account/store"
)

// accountFlags are what every admin command (teams, keys, credits, usage)
// shares with serve: where the data is.
type accountFlags struct{ dataDir string }

func (f *accountFlags) add(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.dataDir, "data-dir", envOr("RUNNEL_DATA_DIR", store.DefaultDataDir),
		"directory of the SQLite database (env RUNNEL_DATA_DIR); DATABASE_URL selects PostgreSQL instead")
}

// open opens the account store as serve does. SQLite's WAL and busy
// timeout let it run next to a serving process.
func (f *accountFlags) open(ctx context.Context) (*account.Service, error) {
	st, err := store.Open(ctx, f.dataDir, os.Getenv("DATABASE_URL"))
	if err != nil {
		return nil, err
	}
	// With the journal, records a killed server left unstored are stored
	// now; while a server runs it owns the journal and this skips it.
	return account.New(st, account.Config{SweepEvery: time.Hour, Journal: journalPath(f.dataDir), JournalReplayOnly: true}), nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func init() {
	var af accountFlags
	teams := &cobra.Command{Use: "teams", Short: "Create and list teams"}
	af.add(teams)

	var credits int64
	var id string
	var limits account.Limits
	var budget float64
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a team; prints its id alone on stdout (--id acme-corp chooses it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			acct, err := af.open(ctx)
			if err != nil {
				return err
			}
			defer acct.Close()
			t, err := acct.CreateTeamID(ctx, id, args[0], credits)
			if err != nil {
				return err
			}
			if limits != (account.Limits{}) || budget != 0 {
				if _, err := acct.SetTeamLimits(ctx, t.ID, limits, budget); err != nil {
					return err
				}
			}
			fmt.Fprintln(cmd.OutOrStdout(), t.ID)
			return nil
		},
	}
	create.Flags().Int64Var(&credits, "credits", 0, "initial credits")
	create.Flags().StringVar(&id, "id", "", "the team's id, a slug such as acme-corp (default: generated, team_…)")
	limitFlags(create, &limits, &budget)

	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List teams with their credits and limits",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			acct, err := af.open(cmd.Context())
			if err != nil {
				return err
			}
			defer acct.Close()
			ts, err := acct.Teams(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]api.TeamJSON, len(ts))
				for i, t := range ts {
					out[i] = api.Team(t)
				}
				return printJSON(cmd.OutOrStdout(), out)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tCREDITS\tRESERVED\tFREE\tSPENT\tMAX_BUDGET\tRPM\tTPM\tCREATED")
			for _, t := range ts {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.6g\t%g\t%d\t%d\t%s\n", t.ID, t.Name, t.Credits, t.Reserved, t.Free(),
					t.Spent, t.MaxBudget, t.Limits.RPM, t.Limits.TPM, t.Created.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var setLimits account.Limits
	var setBudget float64
	limitsCmd := &cobra.Command{
		Use:   "limits TEAM_ID",
		Short: "Set a team's rate limits and budget (0 = none)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			acct, err := af.open(cmd.Context())
			if err != nil {
				return err
			}
			defer acct.Close()
			_, err = acct.SetTeamLimits(cmd.Context(), args[0], setLimits, setBudget)
			return err
		},
	}
	limitFlags(limitsCmd, &setLimits, &setBudget)

	teams.AddCommand(create, list, limitsCmd)
	root.AddCommand(teams)
}

func limitFlags(cmd *cobra.Command, l *account.Limits, budget *float64) {
	cmd.Flags().Int64Var(&l.RPM, "rpm", 0, "requests per minute (0 = unlimited)")
	cmd.Flags().Int64Var(&l.TPM, "tpm", 0, "tokens per minute (0 = unlimited)")
	if budget != nil {
		cmd.Flags().Float64Var(budget, "max-budget", 0, "maximum total cost (0 = none)")
	}
}
