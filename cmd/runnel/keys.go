package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/runnel/runnel/account"
	"github.com/runnel/runnel/account/api"
)

func init() {
	var af accountFlags
	keys := &cobra.Command{Use: "keys", Short: "Create, list and revoke virtual keys"}
	af.add(keys)

	var team, name string
	var limits account.Limits
	create := &cobra.Command{
		Use:   "create --team ID",
		Short: "Create a key for a team; prints the key alone on stdout (it is shown only once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			acct, err := af.open(cmd.Context())
			if err != nil {
				return err
			}
			defer acct.Close()
			secret, _, err := acct.CreateKey(cmd.Context(), team, name, limits)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), secret)
			return nil
		},
	}
	create.Flags().StringVar(&team, "team", "", "team id (required)")
	create.Flags().StringVar(&name, "name", "", "a label for the key")
	create.MarkFlagRequired("team")
	limitFlags(create, &limits, nil)

	var listTeam string
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List keys (prefixes only; keys are never stored)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			acct, err := af.open(cmd.Context())
			if err != nil {
				return err
			}
			defer acct.Close()
			if listTeam != "" {
				if _, err := acct.Team(cmd.Context(), listTeam); err != nil {
					return err
				}
			}
			ks, err := acct.Store().Keys(cmd.Context(), listTeam)
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]api.KeyJSON, len(ks))
				for i, k := range ks {
					out[i] = api.Key(k)
				}
				return printJSON(cmd.OutOrStdout(), out)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tPREFIX\tTEAM\tNAME\tRPM\tTPM\tCREATED\tREVOKED")
			for _, k := range ks {
				revoked := "-"
				if !k.Revoked.IsZero() {
					revoked = k.Revoked.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s…\t%s\t%s\t%d\t%d\t%s\t%s\n", k.ID, k.Prefix, k.TeamID, k.Name, k.Limits.RPM, k.Limits.TPM, k.Created.Format(time.RFC3339), revoked)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&listTeam, "team", "", "only this team's keys")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	revoke := &cobra.Command{
		Use:   "revoke KEY_OR_PREFIX",
		Short: "Revoke a key given whole, by its prefix (rk_ and 8 characters) or by id; it fails from the next request on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			acct, err := af.open(cmd.Context())
			if err != nil {
				return err
			}
			defer acct.Close()
			k, err := acct.RevokeKey(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %s (%s…)\n", k.ID, k.Prefix)
			return nil
		},
	}

	keys.AddCommand(create, list, revoke)
	root.AddCommand(keys)
}
