"""Every visitor-facing string of the touch UI, as (Japanese, English) pairs.

Kept apart from the routes so translators (and the test that every key has both
languages) read one small file.
"""

from __future__ import annotations

# Visitor-facing strings: (Japanese, English).
STRINGS: dict[str, tuple[str, str]] = {
    "title": ("券売機", "Ticket kiosk"),
    "choose_product": ("チケットをお選びください", "Please choose a ticket"),
    "choose_quantity": ("枚数をお選びください", "How many tickets?"),
    "next": ("次へ", "Next"),
    "back": ("戻る", "Back"),
    "consent": ("ご確認ください", "Please confirm"),
    "consent_missing": ("必須の項目にチェックしてください", "Please tick the required boxes"),
    "choose_payment": ("お支払方法をお選びください", "Choose how to pay"),
    "total": ("合計", "Total"),
    "discount": ("割引", "Discount"),
    "voucher_code": ("クーポンコード", "Voucher code"),
    "voucher_apply": ("クーポンを使う", "Use the voucher"),
    "voucher_refused": (
        "このクーポンコードはお使いいただけません",
        "This voucher code cannot be used",
    ),
    "pay_hint": (
        "端末にカード・スマートフォンをかざしてください",
        "Present your card or phone to the terminal",
    ),
    "done": ("チケットをお取りください", "Please take your tickets"),
    "receipt": ("領収書", "Receipt"),
    "receipt_printed": ("領収書を発行しました", "Your receipt has been printed"),
    "finish": ("終了", "Finish"),
    "call_staff": ("スタッフ呼出し", "Call staff"),
    "staff_called": (
        "スタッフを呼び出しました。少々お待ちください",
        "A member of staff is on the way. Please wait",
    ),
    "out_of_service": ("ただいま休止中です", "Out of service"),
    "out_of_service_hint": (
        "恐れ入りますが、スタッフにお声がけください",
        "Sorry, please ask a member of staff",
    ),
    "payment_failed": ("お支払いができませんでした", "The payment did not go through"),
    "payment_declined": ("お支払いが承認されませんでした", "Payment declined"),
    "payment_cancelled": ("お支払いを取り消しました", "The payment was cancelled"),
    "sold_out": (
        "売り切れのため購入できませんでした。お支払いは取り消しました",
        "Sold out. Your payment has been cancelled",
    ),
    "pending": (
        "お支払いは完了しています。チケット発行のためスタッフをお呼びください",
        "You have paid. Please call staff to issue your tickets",
    ),
    "print_error": (
        "印刷できませんでした。スタッフをお呼びください",
        "Printing failed. Please call staff",
    ),
    "try_again": ("もう一度", "Try again"),
    "paying": ("お支払い待ち", "Waiting for payment"),
    "cancel": ("取り消す", "Cancel"),
    "processing": ("チケットを発行しています…", "Issuing your tickets…"),
    "checking_payment": (
        "お支払い状況を確認しています。しばらくお待ちください",
        "Checking your payment. Please wait",
    ),
    "printer_wait": (
        "プリンターの復旧を待っています。チケットは自動で発行されます",
        "Waiting for the printer. Your tickets will print automatically",
    ),
    "void_failed": (
        "売り切れのため購入できませんでした。返金のためスタッフをお呼びください",
        "Sold out. Please call staff for your refund",
    ),
    "busy": ("ただいま別のお取引を処理中です", "Another sale is in progress"),
    "reason_paper_out": ("用紙切れ", "Printer out of paper"),
    "reason_cover_open": ("プリンターのカバーが開いています", "Printer cover open"),
    "reason_offline": ("プリンターが応答しません", "Printer offline"),
    "reason_unprinted": ("チケット印刷待ち", "Tickets waiting to print"),
    "reason_unconfirmed": ("お支払いの確認待ち", "Payment waiting for confirmation"),
    "reason_terminal": ("決済端末が応答しません", "Payment terminal offline"),
    "reason_core": ("サーバーに接続できません", "Cannot reach the server"),
    "sold_out_marker": ("売切", "Sold out"),
    "required": ("必須", "required"),
    "tickets": ("枚", "tickets"),
    "choose_slot": ("時間帯をお選びください", "Please choose a time slot"),
    "slot_full": (
        "この時間帯は空きがありません。別の時間帯をお選びください",
        "This time slot is full. Please choose another",
    ),
    "slots_hint": ("〇 空きあり・△ 残りわずか・× 満員", "〇 available · △ few left · × full"),
    "holder": ("ご利用者", "Pass holder"),
    "holder_name": ("お名前", "Name"),
    "birth_date": ("生年月日", "Date of birth"),
    "pass_type": ("種類", "Pass type"),
    "photo": ("写真（任意）", "Photo (optional)"),
    "take_photo": ("写真を撮る", "Take photo"),
    "retake_photo": ("撮り直す", "Retake"),
    "photo_taken": ("写真を撮りました", "Photo taken"),
    "no_camera": ("カメラを使用できません", "The camera is not available"),
    "add_pass": ("もう1枚追加", "Add another pass"),
    "holder_missing": (
        "パス1枚ごとにお名前と生年月日を入力してください",
        "Enter a name and date of birth for each pass",
    ),
    "addons": ("オプション", "Add-ons"),
    "addon_alone": (
        "オプションはチケットと一緒にお求めください",
        "Add-ons are sold only together with a ticket",
    ),
    # Paying a time stay (精算)
    "stay_entry": ("精算（ご利用料金のお支払い）", "Pay for my stay"),
    "stay_scan": (
        "チケットのQRコードを読み取り機にかざしてください",
        "Hold your ticket's QR code to the reader",
    ),
    "stay_code": ("またはコードを入力", "Or type the code"),
    "stay_lookup": ("料金を確認", "Show what I owe"),
    "stay_not_found": (
        "ご利用中の入室記録が見つかりません。入口でチケットを読み取ってからご利用ください",
        "No stay in progress for this ticket. It is scanned at the entrance first",
    ),
    "stay_unreadable": (
        "このコードは読み取れませんでした。もう一度お試しください",
        "This code could not be read. Please try again",
    ),
    "stay_minutes": ("ご利用時間", "Time inside"),
    "minutes": ("分", "min"),
    "stay_paid": ("お支払い済み", "Already paid"),
    "stay_due": ("お支払い金額", "Amount due"),
    "stay_nothing_due": (
        "お支払いは不要です。そのまま出口からお出になれます",
        "Nothing to pay. You may leave through the exit",
    ),
    "stay_changed": (
        "ご利用時間が延びたため料金が変わりました。最新の金額をご確認ください",
        "Time went on, so the amount has changed. Please check the new amount",
    ),
    "stay_processing": ("お支払いを確認しています…", "Confirming your payment…"),
    "stay_pending": (
        "お支払いは完了しています。精算の確認のためスタッフをお呼びください",
        "You have paid. Please call staff to confirm your stay's payment",
    ),
    "stay_done": ("精算が完了しました", "Your stay is paid"),
    "stay_exit": (
        "15分以内に出口からお出になれます",
        "You may now leave through the exit within 15 minutes",
    ),
    "stay_receipt_printed": ("領収書をお取りください", "Please take your receipt"),
    "stay_receipt_failed": (
        "領収書を印刷できませんでした。必要な方はスタッフにお声がけください",
        "The receipt could not be printed. Please ask staff if you need one",
    ),
    "stay_void_failed": (
        "料金が変わったためお支払いを取り消せませんでした。返金のためスタッフをお呼びください",
        "The amount changed and your payment could not be cancelled. Please call staff for your refund",
    ),
}
