#!/usr/bin/perl
# Verify every DKIM-Signature of each message file with Mail::DKIM (an implementation
# independent of OpenDKIM and dkimpy).  Run inside the test's network namespace so Net::DNS
# asks the test's unbound.  Prints one JSON object: {"files": {path: [signature, ...]}},
# each signature {d, s, a, result, detail}.  Files must use CRLF line ends (the harness
# stores captured messages that way); bare LF is converted anyway.
use strict;
use warnings;
use Mail::DKIM::Verifier;
use JSON::PP;

my %files;
for my $path (@ARGV) {
    open(my $fh, '<:raw', $path) or die "open $path: $!\n";
    my $dkim = Mail::DKIM::Verifier->new();
    while (my $line = <$fh>) {
        $line =~ s/\015?\012\z/\015\012/;
        $dkim->PRINT($line);
    }
    close($fh);
    $dkim->CLOSE();
    my @sigs;
    for my $sig ($dkim->signatures) {
        push @sigs, {
            d      => $sig->domain // '?',
            s      => $sig->selector // '?',
            a      => $sig->algorithm // '?',
            result => $sig->result // 'none',
            detail => $sig->result_detail // '',
        };
    }
    $files{$path} = \@sigs;
}
print JSON::PP->new->canonical->encode({ files => \%files });
