package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/api"
)

func init() {
	var af accountFlags
	var team, key, model, from, to string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "Report calls, tokens and cost per team, key and model over a time range",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := account.UsageFilter{TeamID: team, KeyID: key, Model: model}
			var err error
			if f.From, err = api.ParseTime(from, "--from"); err != nil {
				return err
			}
			if f.To, err = api.ParseTime(to, "--to"); err != nil {
				return err
			}
			acct, err := af.open(cmd.Context())
			if err != nil {
				return err
			}
			defer acct.Close()
			rows, err := acct.Usage(cmd.Context(), f)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), api.UsageRows(rows))
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TEAM\tKEY\tMODEL\tCALLS\tERRORS\tINPUT\tOUTPUT\tTOTAL\tCOST")
			for _, r := range rows {
				est := ""
				if r.Usage.Estimated {
					est = "~"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s%d\t%s%d\t%s%d\t%.6f\n", dash(r.TeamID), dash(r.KeyID), r.Model, r.Calls, r.Errors,
					est, r.Usage.InputTokens, est, r.Usage.OutputTokens, est, r.Usage.Total(), r.Cost.Total)
			}
			return tw.Flush()
		},
	}
	af.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&team, "team", "", "only this team")
	fl.StringVar(&key, "key", "", "only this key id")
	fl.StringVar(&model, "model", "", "only this model")
	fl.StringVar(&from, "from", "24h", "start: RFC 3339 time or a duration before now")
	fl.StringVar(&to, "to", "", "end (exclusive): RFC 3339 time or a duration before now; default now")
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	root.AddCommand(cmd)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
